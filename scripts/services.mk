# Real services for the integration tests (PostgreSQL + Kafka KRaft), started by the project.
# Included by the main Makefile:  include scripts/services.mk
# Use in a shell:  eval "$$(scripts/services.sh env)"

SERVICES_SH ?= scripts/services.sh

.PHONY: services services-stop services-status services-env

services:  ## start PostgreSQL (127.0.0.1:55432) and Kafka (127.0.0.1:59092); idempotent
	$(SERVICES_SH) start

services-stop:  ## stop both
	$(SERVICES_SH) stop

services-status:
	$(SERVICES_SH) status

services-env:  ## print the export lines (CASHBACK_PG_DSN, CASHBACK_KAFKA_BOOTSTRAP)
	@$(SERVICES_SH) env
