#!/usr/bin/env bash
# Finds or builds Prometheus's promtool (tests of the alert rules), cached outside the checkout.
# Prints PROMTOOL_BIN=... on stdout; progress goes to stderr. The first build takes ~8 minutes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ -n "${TDR_PROMTOOL_BIN:-}" ]; then echo "PROMTOOL_BIN=$TDR_PROMTOOL_BIN"; exit 0; fi
# Prometheus v3 is tagged v3.x.y but published to the Go proxy as v0.3xx.y of its module.
dir="$(go_install_cached promtool "$PROMETHEUS_VERSION" "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION")"
[ -x "$dir/promtool" ] || die "promtool not found at $dir/promtool"
echo "PROMTOOL_BIN=$dir/promtool"
