package blake3

//go:generate go run gen.go

// Size is the length in bytes of a default BLAKE3 digest.
const Size = 32

// BlockSize is the block size of the compression function in bytes, as
// reported by [Hasher.BlockSize].
const BlockSize = 64

// KeySize is the length in bytes of the key taken by [NewKeyed].
const KeySize = 32

const (
	// chunkLen is the number of input bytes in a chunk, a leaf of the tree.
	chunkLen = 1024
	// batchChunks is the number of chunks hashed together by the parallel
	// kernels, and the number of chunks under one subtree on the CV stack.
	batchChunks = 16
	// batchLen is the number of input bytes in a batch.
	batchLen = batchChunks * chunkLen
	// maxDepth bounds the CV stack: 2^64 bytes are 2^54 chunks.
	maxDepth = 54
)

// Domain separation flags (BLAKE3 specification, table 3).
const (
	flagChunkStart        = 1 << 0
	flagChunkEnd          = 1 << 1
	flagParent            = 1 << 2
	flagRoot              = 1 << 3
	flagKeyedHash         = 1 << 4
	flagDeriveKeyContext  = 1 << 5
	flagDeriveKeyMaterial = 1 << 6
)

// iv is the initialization vector, the same as SHA-256's (specification,
// table 1). It is the key of the unkeyed modes.
var iv = [8]uint32{
	0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
	0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
}

// kernel selects the implementation of the compression kernels. The zero
// value is the portable Go code, which runs everywhere; the others exist
// only on amd64 builds without the purego tag and only when the CPU and
// the operating system support them.
type kernel uint8

const (
	kernGeneric kernel = iota
	kernSSE41
	kernAVX2
	kernAVX512
)

// String returns the name of the kernel, for test and benchmark names.
func (k kernel) String() string {
	switch k {
	case kernSSE41:
		return "sse41"
	case kernAVX2:
		return "avx2"
	case kernAVX512:
		return "avx512"
	default:
		return "generic"
	}
}

// hashChunksSerial computes the chaining values of the len(in)/chunkLen
// (at most batchChunks) whole chunks in in, numbered from counter, one
// block at a time.
func (k kernel) hashChunksSerial(in []byte, key *[8]uint32, counter uint64, flags uint32, out *[batchChunks][8]uint32) {
	for i := range len(in) / chunkLen {
		cv := *key
		chunk := in[i*chunkLen : (i+1)*chunkLen]
		for j := 0; j < chunkLen; j += BlockSize {
			f := flags
			if j == 0 {
				f |= flagChunkStart
			}
			if j == chunkLen-BlockSize {
				f |= flagChunkEnd
			}
			k.compress(&cv, (*[BlockSize]byte)(chunk[j:]), counter+uint64(i), BlockSize, f)
		}
		out[i] = cv
	}
}

// hashParentsSerial computes the n parent chaining values of the pairs
// (in[2i], in[2i+1]) into out[i], one at a time.
func (k kernel) hashParentsSerial(in *[batchChunks][8]uint32, n int, key *[8]uint32, flags uint32, out *[batchChunks][8]uint32) {
	var block [BlockSize]byte
	for i := range n {
		putWords(block[:32], &in[2*i])
		putWords(block[32:], &in[2*i+1])
		cv := *key
		k.compress(&cv, &block, 0, BlockSize, flags|flagParent)
		out[i] = cv
	}
}

// compressBlocksSerial chains the whole blocks of blocks, part of one
// chunk, into cv: the first with firstFlags, the others with flags.
func (k kernel) compressBlocksSerial(cv *[8]uint32, blocks []byte, counter uint64, flags, firstFlags uint32) {
	f := firstFlags
	for len(blocks) >= BlockSize {
		k.compress(cv, (*[BlockSize]byte)(blocks), counter, BlockSize, f)
		f = flags
		blocks = blocks[BlockSize:]
	}
}
