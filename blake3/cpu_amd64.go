//go:build amd64 && !purego

package blake3

// cpuid executes the CPUID instruction for leaf and subleaf.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// xgetbv returns XCR0. It may only be called when CPUID reports OSXSAVE.
func xgetbv() (eax, edx uint32)

// detectKernel returns the fastest kernel the CPU and the operating system
// support. A vector extension is usable only when the CPU has it and the
// operating system saves its registers (XCR0), which is why CPUID alone is
// not enough.
func detectKernel() kernel {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 1 {
		return kernGeneric
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		sse41   = 1 << 19
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&sse41 == 0 {
		return kernGeneric
	}
	if ecx1&(osxsave|avx) != osxsave|avx || maxLeaf < 7 {
		return kernSSE41
	}
	xcr0, _ := xgetbv()
	const (
		xmmYmmState = 1<<1 | 1<<2
		zmmState    = 1<<5 | 1<<6 | 1<<7
	)
	if xcr0&xmmYmmState != xmmYmmState {
		return kernSSE41
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const (
		avx2     = 1 << 5
		avx512f  = 1 << 16
		avx512vl = 1 << 31
	)
	switch {
	case ebx7&(avx2|avx512f|avx512vl) == avx2|avx512f|avx512vl && xcr0&zmmState == zmmState:
		return kernAVX512
	case ebx7&avx2 != 0:
		return kernAVX2
	}
	return kernSSE41
}
