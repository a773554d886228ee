// Package bench holds side-by-side benchmarks of amaters-server's packages
// against the libraries people would otherwise use. It is a separate module
// so that the product's go.mod never grows.
package bench
