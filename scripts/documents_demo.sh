#!/usr/bin/env bash
# The documents scenario on the embedded default (SQLite), with a local SMTP server that keeps
# every e-mail it receives: one device DOCS_REQUIRED -> e-mail -> upload -> review ->
# PAYMENT_PENDING, another expiring to REJECTED (DOCS_NOT_PROVIDED). Clock fixed with --now.
#   scripts/documents_demo.sh            (after `make install`; data in var/docs-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
export CASHBACK_STORE=sqlite
export CASHBACK_DATA_DIR="${CASHBACK_DATA_DIR:-var/docs-demo}"
SMTP_PORT="${CASHBACK_DEMO_SMTP_PORT:-8025}"
export CASHBACK_SMTP_HOST=127.0.0.1 CASHBACK_SMTP_PORT="$SMTP_PORT" CASHBACK_SMTP_SECURITY=none
rm -rf "$CASHBACK_DATA_DIR" && mkdir -p "$CASHBACK_DATA_DIR/mailbox"

# A local SMTP server writing each message to mailbox/ (stopped on exit).
"$BIN/python" - "$SMTP_PORT" "$CASHBACK_DATA_DIR/mailbox" <<'PY' &
import sys, time
from pathlib import Path
from aiosmtpd.controller import Controller
port, box = int(sys.argv[1]), Path(sys.argv[2])
class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = len(list(box.glob("*.eml"))) + 1
        (box / f"{n:03d}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 OK"
controller = Controller(Keep(), hostname="127.0.0.1", port=port)
controller.start()
(box / ".ready").touch()
time.sleep(600)
PY
SMTP_PID=$!
trap 'kill $SMTP_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    [ -e "$CASHBACK_DATA_DIR/mailbox/.ready" ] && break
    kill -0 "$SMTP_PID" 2>/dev/null || break
    sleep 0.1
done
if [ ! -e "$CASHBACK_DATA_DIR/mailbox/.ready" ]; then
    echo "error: the local SMTP server could not start on 127.0.0.1:$SMTP_PORT (port in use?);" \
         "set CASHBACK_DEMO_SMTP_PORT to a free port" >&2
    exit 2
fi

cb() { local now="$1"; shift; echo; echo "\$ cashback --now $now $(printf '%q ' "$@")"; "$BIN/cashback" --now "$now" "$@"; }
refused() { if "$@"; then echo "expected a refusal" >&2; exit 1; else echo "(refused, exit $?)"; fi; }
mails() { echo; echo "--- mailbox: $(ls "$CASHBACK_DATA_DIR/mailbox" | wc -l) e-mail(s)"; \
          "$BIN/python" -c 'import sys, email, email.policy
for p in sys.argv[1:]:
    print("Subject:", email.message_from_bytes(open(p, "rb").read(), policy=email.policy.default)["Subject"])' \
          "$CASHBACK_DATA_DIR"/mailbox/*.eml 2>/dev/null || true; }

# 10 June 2026: a company, and two devices the catalog cannot settle alone
cb 2026-06-10T10:00:00+02:00 enrol --customer-no 100000 --name "Soleil Rennes SARL" \
  --email contact@soleil-rennes.example --enrolled-on 2026-02-01
cb 2026-06-10T10:00:00+02:00 register --company 100000 --serial 3277787633 \
  --type SB3.0-1AV-41 --installed-on 2026-06-02     # sold in Germany: DOCS_REQUIRED
cb 2026-06-10T10:00:00+02:00 register --company 100000 --serial 3663300762 \
  --type STP10.0-3AV-40 --installed-on 2026-06-03   # old stock: DOCS_REQUIRED
cb 2026-06-10T10:00:00+02:00 status --company 100000

# the two e-mails go out; a second pass sends nothing
cb 2026-06-10T10:05:00+02:00 worker notifications --once
cb 2026-06-10T10:06:00+02:00 worker notifications --once
mails

# 20 June: a text file named .pdf is refused; the real invoice goes in: DOCS_UPLOADED
printf 'just some notes' > "$CASHBACK_DATA_DIR/notes.pdf"
refused "$BIN/cashback" --now 2026-06-20T09:00:00+02:00 documents upload 3277787633 "$CASHBACK_DATA_DIR/notes.pdf" --kind invoice
printf '%%PDF-1.4\n%% Facture 2026-0412 Soleil Rennes SARL\n%%%%EOF\n' > "$CASHBACK_DATA_DIR/facture.pdf"
cb 2026-06-20T09:00:00+02:00 documents upload 3277787633 "$CASHBACK_DATA_DIR/facture.pdf" --kind invoice

# staff review: approved -> PAYMENT_PENDING
cb 2026-06-20T14:00:00+02:00 review list
cb 2026-06-20T14:00:00+02:00 review approve 3277787633 --reviewer alice@maker.example

# 21 June, three days before the deadline: a reminder for the other device
cb 2026-06-21T08:00:00+02:00 worker deadlines --once
cb 2026-06-21T08:01:00+02:00 notifications send-pending
mails

# 24 June 23:59 is still the deadline day: nothing expires. 25 June 00:00: too late.
cb 2026-06-24T23:59:00+02:00 worker deadlines --once
refused "$BIN/cashback" --now 2026-06-25T00:00:30+02:00 documents upload 3663300762 "$CASHBACK_DATA_DIR/facture.pdf" --kind invoice
cb 2026-06-25T00:01:00+02:00 worker deadlines --once
cb 2026-06-25T09:00:00+02:00 status --company 100000
echo
echo "done: data in $CASHBACK_DATA_DIR, e-mails in $CASHBACK_DATA_DIR/mailbox"
