# flask-nginx: the two commands a newcomer needs, and their parts.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
SCENARIOS ?= default

.PHONY: demo demo-clean test bootstrap lint unit molecule bench

demo:            ## provision a local demo target and print its URL
	scripts/demo.sh

demo-clean:      ## remove the demo target
	docker rm -f flask-nginx-demo

test:            ## every test: lint, fast tests, all Molecule scenarios
	scripts/test.sh

bootstrap:
	scripts/bootstrap.sh

lint: bootstrap
	scripts/test.sh lint

unit: bootstrap
	scripts/test.sh unit

bench:           ## benchmark against the alternatives (writes bench/results.*)
	scripts/bench.sh

molecule: bootstrap
	scripts/test.sh molecule $(SCENARIOS)
