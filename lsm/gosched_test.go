package lsm_test

import "runtime"

func runtimeGosched() { runtime.Gosched() }
