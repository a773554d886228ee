package blake3

import "encoding/binary"

// output is a node of the tree that has not been compressed yet: a chunk's
// last block or a parent's pair of child chaining values. Keeping the
// inputs of the last compression, rather than its result, is what lets the
// root produce any number of output bytes (specification, section 2.6):
// the root compresses the same inputs again with the output block index
// as counter.
type output struct {
	cv       [8]uint32
	block    [BlockSize]byte
	counter  uint64
	blockLen uint32
	flags    uint32
}

// chainingValue returns the chaining value of a non-root node.
func (o *output) chainingValue(k kernel) [8]uint32 {
	cv := o.cv
	k.compress(&cv, &o.block, o.counter, o.blockLen, o.flags)
	return cv
}

// rootBlock writes the root output block with index i, 64 bytes of the
// extended output, into out.
func (o *output) rootBlock(k kernel, i uint64, out *[BlockSize]byte) {
	k.compressFull(&o.cv, &o.block, i, o.blockLen, o.flags|flagRoot, out)
}

// chunkOutput hashes all but the last block of chunk, which holds 1 to
// chunkLen bytes (0 only for an empty message), and returns the node of its
// last block.
func chunkOutput(k kernel, chunk []byte, key *[8]uint32, counter uint64, flags uint32) output {
	o := output{cv: *key, counter: counter, flags: flags | flagChunkStart}
	if len(chunk) > BlockSize {
		// All whole blocks but the last one of the chunk.
		n := (len(chunk) - 1) / BlockSize
		k.compressBlocks(&o.cv, chunk[:n*BlockSize], counter, flags, o.flags)
		o.flags = flags
		chunk = chunk[n*BlockSize:]
	}
	copy(o.block[:], chunk)
	o.blockLen = uint32(len(chunk))
	o.flags |= flagChunkEnd
	return o
}

// parentOutput returns the parent node of two child chaining values.
func parentOutput(left, right *[8]uint32, key *[8]uint32, flags uint32) output {
	o := output{cv: *key, blockLen: BlockSize, flags: flags | flagParent}
	putWords(o.block[:32], left)
	putWords(o.block[32:], right)
	return o
}

// putWords stores the 8 words of cv little-endian into b[:32].
func putWords(b []byte, cv *[8]uint32) {
	_ = b[31]
	for i, w := range cv {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
}

// tree is the part of the hash state above the chunks: the key, the mode
// flags and the chaining values of the completed subtrees.
//
// The tree of BLAKE3 is a left-complete binary tree over the chunks. Input
// is hashed in batches of batchChunks chunks, and a whole batch is one
// complete subtree, so after b batches the completed part of the tree is
// one perfect subtree for each set bit of b, largest first. stack holds
// their chaining values in that order: pushing the CV of batch b merges
// the top entry with it once for every trailing zero bit of b+1. Merging
// is eager only for subtrees that are complete and followed by more input,
// which is why a batch is added only once a later byte has arrived: the
// rightmost nodes can still become the root and need the ROOT flag.
type tree struct {
	key   [8]uint32
	flags uint32
	kern  kernel
	// batches is the number of batches added so far.
	batches uint64
	// stackLen is the number of entries in stack: the number of set bits
	// of batches.
	stackLen int
	stack    [maxDepth][8]uint32
}

// reset empties the tree and keeps key, flags and kernel.
func (t *tree) reset() {
	t.batches = 0
	t.stackLen = 0
}

// addBatch hashes batchLen bytes of input, the next batch, into the tree.
func (t *tree) addBatch(batch []byte) {
	var cvs [batchChunks][8]uint32
	k := t.kern
	k.hashChunks(batch[:batchLen], &t.key, t.batches*batchChunks, t.flags, &cvs)
	t.reduce(&cvs, batchChunks, 1)
	cv := cvs[0]
	t.batches++
	for n := t.batches; n&1 == 0; n >>= 1 {
		t.stackLen--
		p := parentOutput(&t.stack[t.stackLen], &cv, &t.key, t.flags)
		cv = p.chainingValue(k)
	}
	t.stack[t.stackLen] = cv
	t.stackLen++
}

// reduce merges the n chaining values in cvs, the leaves of a perfect
// subtree (n is a power of two), level by level with the parallel kernel,
// until only until of them are left in cvs[:until].
func (t *tree) reduce(cvs *[batchChunks][8]uint32, n, until int) {
	var next [batchChunks][8]uint32
	for n > until {
		n /= 2
		t.kern.hashParents(cvs, n, &t.key, t.flags, &next)
		copy(cvs[:n], next[:n])
	}
}

// subtrees merges the chaining values of the n chunks in cvs, which start
// at a batch boundary, into the perfect subtrees of the left-complete
// tree, one for each set bit of n, largest first. It returns how many
// there are, in sub[:count].
func (t *tree) subtrees(cvs *[batchChunks][8]uint32, n int, sub *[5][8]uint32) int {
	count, off := 0, 0
	for size := batchChunks; size > 0; size /= 2 {
		if n&size == 0 {
			continue
		}
		var group [batchChunks][8]uint32
		copy(group[:size], cvs[off:off+size])
		t.reduce(&group, size, 1)
		sub[count] = group[0]
		count++
		off += size
	}
	return count
}

// fold returns the root above o: o is the rightmost node, sub the
// subtrees of the tail before it, and the stack the subtrees before those.
func (t *tree) fold(o output, sub [][8]uint32) output {
	for i := len(sub) - 1; i >= 0; i-- {
		cv := o.chainingValue(t.kern)
		o = parentOutput(&sub[i], &cv, &t.key, t.flags)
	}
	for i := t.stackLen - 1; i >= 0; i-- {
		cv := o.chainingValue(t.kern)
		o = parentOutput(&t.stack[i], &cv, &t.key, t.flags)
	}
	return o
}

// finish returns the root node for the message made of the batches added
// so far followed by tail, the last 0 to batchLen bytes (0 only when the
// whole message is empty). It does not modify t.
func (t *tree) finish(tail []byte) output {
	k := t.kern
	counter := t.batches * batchChunks
	whole := len(tail) / chunkLen
	var cvs [batchChunks][8]uint32
	var sub [5][8]uint32
	if len(tail)%chunkLen == 0 && (whole > 1 || whole == 1 && t.stackLen > 0) {
		// The message has more than one chunk and ends with a whole one:
		// every chunk of the tail is a leaf below the root, so all of them
		// go through the parallel kernel, and the root is a parent.
		k.hashChunks(tail, &t.key, counter, t.flags, &cvs)
		if t.stackLen == 0 && whole&(whole-1) == 0 {
			t.reduce(&cvs, whole, 2)
			return parentOutput(&cvs[0], &cvs[1], &t.key, t.flags)
		}
		n := t.subtrees(&cvs, whole, &sub)
		if n == 1 {
			return t.foldStack(sub[0])
		}
		o := parentOutput(&sub[n-2], &sub[n-1], &t.key, t.flags)
		return t.fold(o, sub[:n-2])
	}
	// The last chunk is partial, or the only one: it stays an output node,
	// and the whole chunks before it become chaining values.
	n := whole
	if len(tail)%chunkLen == 0 && whole > 0 {
		n = whole - 1
	}
	o := chunkOutput(k, tail[n*chunkLen:], &t.key, counter+uint64(n), t.flags)
	if n == 0 {
		return t.fold(o, nil)
	}
	k.hashChunks(tail[:n*chunkLen], &t.key, counter, t.flags, &cvs)
	return t.fold(o, sub[:t.subtrees(&cvs, n, &sub)])
}

// foldStack returns the root above right, the chaining value of the
// rightmost subtree, when the stack is not empty.
func (t *tree) foldStack(right [8]uint32) output {
	top := t.stackLen - 1
	o := parentOutput(&t.stack[top], &right, &t.key, t.flags)
	for i := top - 1; i >= 0; i-- {
		cv := o.chainingValue(t.kern)
		o = parentOutput(&t.stack[i], &cv, &t.key, t.flags)
	}
	return o
}
