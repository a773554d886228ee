//go:build amd64 && !purego

package blake3

import "unsafe"

// detected is the kernel Hashers use on this machine. It is set once, when
// the package is initialized, and never written afterwards.
var detected = detectKernel()

// kernels lists the kernels this machine can run, for tests: every level
// up to the detected one.
func kernels() []kernel {
	ks := []kernel{kernGeneric}
	for k := kernSSE41; k <= detected; k++ {
		ks = append(ks, k)
	}
	return ks
}

// compressSSE41 and the other single-block kernels have the signatures
// of compressGeneric, compressFullGeneric and compressBlocksSerial.
//
//go:noescape
func compressSSE41(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen uint32, flags uint32)

//go:noescape
func compressFullSSE41(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen uint32, flags uint32, out *[BlockSize]byte)

// hashManyAVX512 hashes 16 inputs of blocks whole blocks each: input i
// starts at in+min(i, n-1)*stride, so lanes past n repeat the last input
// and read nothing outside it. Lane i uses counter+i*inc and the flags,
// with flagsStart added on the first block and flagsEnd on the last; its
// chaining value goes to out[i]. Chunks use stride chunkLen and inc 1,
// parents stride 64 (two chaining values) and inc 0.
//
//go:noescape
func hashManyAVX512(in *byte, stride uintptr, n int, blocks int, key *[8]uint32, counter uint64, inc uint64, flags uint32, flagsStart uint32, flagsEnd uint32, out *[batchChunks][8]uint32)

// hashManyAVX2 is hashManyAVX512 for 8 lanes.
//
//go:noescape
func hashManyAVX2(in *byte, stride uintptr, n int, blocks int, key *[8]uint32, counter uint64, inc uint64, flags uint32, flagsStart uint32, flagsEnd uint32, out *[8][8]uint32)

func (k kernel) compress(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen, flags uint32) {
	if k == kernAVX512 {
		compressAVX512(cv, block, counter, blockLen, flags)
		return
	}
	if k >= kernSSE41 {
		compressSSE41(cv, block, counter, blockLen, flags)
		return
	}
	compressGeneric(cv, block, counter, blockLen, flags)
}

//go:noescape
func compressBlocksSSE41(cv *[8]uint32, blocks *byte, n int, counter uint64, flags uint32, firstFlags uint32)

//go:noescape
func compressAVX512(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen uint32, flags uint32)

//go:noescape
func compressFullAVX512(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen uint32, flags uint32, out *[BlockSize]byte)

//go:noescape
func compressBlocksAVX512(cv *[8]uint32, blocks *byte, n int, counter uint64, flags uint32, firstFlags uint32)

func (k kernel) compressBlocks(cv *[8]uint32, blocks []byte, counter uint64, flags, firstFlags uint32) {
	if k == kernAVX512 && len(blocks) >= BlockSize {
		compressBlocksAVX512(cv, &blocks[0], len(blocks)/BlockSize, counter, flags, firstFlags)
		return
	}
	if k >= kernSSE41 && len(blocks) >= BlockSize {
		compressBlocksSSE41(cv, &blocks[0], len(blocks)/BlockSize, counter, flags, firstFlags)
		return
	}
	k.compressBlocksSerial(cv, blocks, counter, flags, firstFlags)
}

func (k kernel) compressFull(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen, flags uint32, out *[BlockSize]byte) {
	if k == kernAVX512 {
		compressFullAVX512(cv, block, counter, blockLen, flags, out)
		return
	}
	if k >= kernSSE41 {
		compressFullSSE41(cv, block, counter, blockLen, flags, out)
		return
	}
	compressFullGeneric(cv, block, counter, blockLen, flags, out)
}

func (k kernel) hashChunks(in []byte, key *[8]uint32, counter uint64, flags uint32, out *[batchChunks][8]uint32) {
	n := len(in) / chunkLen
	if k == kernAVX512 && n > 1 {
		hashManyAVX512(&in[0], chunkLen, n, chunkLen/BlockSize, key, counter, 1, flags, flagChunkStart, flagChunkEnd, out)
		return
	}
	if k == kernAVX2 && n > 1 {
		hashManyAVX2(&in[0], chunkLen, min(n, 8), chunkLen/BlockSize, key, counter, 1, flags, flagChunkStart, flagChunkEnd, (*[8][8]uint32)(out[:8]))
		if n > 8 {
			hashManyAVX2(&in[8*chunkLen], chunkLen, n-8, chunkLen/BlockSize, key, counter+8, 1, flags, flagChunkStart, flagChunkEnd, (*[8][8]uint32)(out[8:]))
		}
		return
	}
	k.hashChunksSerial(in, key, counter, flags, out)
}

func (k kernel) hashParents(in *[batchChunks][8]uint32, n int, key *[8]uint32, flags uint32, out *[batchChunks][8]uint32) {
	if k == kernAVX512 && n > 1 {
		hashManyAVX512((*byte)(unsafe.Pointer(in)), 2*32, n, 1, key, 0, 0, flags|flagParent, 0, 0, out)
		return
	}
	if k == kernAVX2 && n > 1 {
		// n <= 8: the pairs are the first 2n of 16 chaining values.
		hashManyAVX2((*byte)(unsafe.Pointer(in)), 2*32, n, 1, key, 0, 0, flags|flagParent, 0, 0, (*[8][8]uint32)(out[:8]))
		return
	}
	k.hashParentsSerial(in, n, key, flags, out)
}
