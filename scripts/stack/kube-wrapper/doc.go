// Package kubewrapper holds no code: the module exists only so that `go build
// k8s.io/kubernetes/cmd/...` can run with published versions of the k8s.io staging modules.
package kubewrapper
