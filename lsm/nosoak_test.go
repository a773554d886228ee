//go:build !soak

package lsm_test

// soak turns on the long variants of the randomized tests.
const soak = false
