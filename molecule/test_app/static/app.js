// Shows what the app sees of this request (client IP and scheme come through Nginx).
fetch("api/info")
  .then((response) => response.json())
  .then((info) => {
    document.getElementById("info").textContent =
      `${info.client_ip} over ${info.scheme} (host ${info.host}, version ${info.version})`;
  })
  .catch(() => {
    document.getElementById("info").textContent = "unavailable";
  });
