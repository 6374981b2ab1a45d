// Command etcd is etcd's server entry point, built from the go.etcd.io/etcd/server/v3 module
// (etcd's root module has replace directives, so `go install go.etcd.io/etcd/v3` does not work).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
