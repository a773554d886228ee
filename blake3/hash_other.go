//go:build purego || !amd64

package blake3

// detected is the kernel this build uses: without assembly, always the
// portable one.
const detected = kernGeneric

// kernels lists the kernels this machine can run, for tests.
func kernels() []kernel { return []kernel{kernGeneric} }

func (k kernel) compress(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen, flags uint32) {
	compressGeneric(cv, block, counter, blockLen, flags)
}

func (k kernel) compressFull(cv *[8]uint32, block *[BlockSize]byte, counter uint64, blockLen, flags uint32, out *[BlockSize]byte) {
	compressFullGeneric(cv, block, counter, blockLen, flags, out)
}

func (k kernel) hashChunks(in []byte, key *[8]uint32, counter uint64, flags uint32, out *[batchChunks][8]uint32) {
	k.hashChunksSerial(in, key, counter, flags, out)
}

func (k kernel) hashParents(in *[batchChunks][8]uint32, n int, key *[8]uint32, flags uint32, out *[batchChunks][8]uint32) {
	k.hashParentsSerial(in, n, key, flags, out)
}

func (k kernel) compressBlocks(cv *[8]uint32, blocks []byte, counter uint64, flags, firstFlags uint32) {
	k.compressBlocksSerial(cv, blocks, counter, flags, firstFlags)
}
