#!/usr/bin/env bash
# Finds or builds Helm (lint and render the chart deploy/helm/temporal-dr), cached outside the checkout.
# Prints HELM_BIN=... on stdout; progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ -n "${TDR_HELM_BIN:-}" ]; then echo "HELM_BIN=$TDR_HELM_BIN"; exit 0; fi
dir="$(go_install_cached helm "$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")"
[ -x "$dir/helm" ] || die "helm not found at $dir/helm"
echo "HELM_BIN=$dir/helm"
