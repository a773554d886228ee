// Package snappy compresses and decompresses blocks in the Snappy block
// format, the format LevelDB, RocksDB and pebble use for table blocks. It
// is written for the sstable writer and reader: whole blocks in memory, no
// streams, no framing format, and a decoder that treats its input as
// hostile.
//
// The output of [Encode] decodes with any Snappy implementation, and
// [Decode] reads what any Snappy encoder writes. The package is tested
// against the format description, hand-built vectors, files compressed by
// the reference C++ library (testdata/README), and, in the bench module,
// against github.com/golang/snappy in both directions.
//
// # Format
//
// A block is a header, the decoded length, followed by elements up to the
// end of the block. The header is an unsigned varint: 7 bits a byte, least
// significant group first, the top bit set on every byte but the last:
//
//	decoded length 64         40
//	decoded length 300        ac 02
//	decoded length 2097150    fe ff 7f
//	largest allowed, 2^32-1   ff ff ff ff 0f
//
// Each element starts with a tag byte whose low two bits say what it is.
// A literal (tag 00) holds bytes that are copied to the output as they
// are. Up to 60 bytes, the length minus one is in the tag's upper six
// bits and the bytes follow:
//
//	  7           2   1   0
//	+---------------+-------+------------------+
//	| len-1 (0..59) | 0   0 | len bytes        |
//	+---------------+-------+------------------+
//
// A longer literal has 60, 61, 62 or 63 in the upper six bits, and then
// len-1 follows in 1, 2, 3 or 4 bytes, little-endian, before the bytes:
//
//	+----------+-------+---------------------+-----------+
//	| 60 (f0)  | 0   0 | len-1 (1 byte)      | len bytes |   len 1..256
//	| 61 (f4)  | 0   0 | len-1 (2 bytes, LE) | len bytes |   len 1..65536
//	| 62 (f8)  | 0   0 | len-1 (3 bytes, LE) | len bytes |   len 1..2^24
//	| 63 (fc)  | 0   0 | len-1 (4 bytes, LE) | len bytes |   len 1..2^32
//	+----------+-------+---------------------+-----------+
//
// In parentheses, the whole tag byte. Any of the forms may carry any
// length that fits in it; encoders use the shortest.
//
// The other three tags are copies: "repeat len bytes starting offset bytes
// back from the end of the output so far". The copy goes byte by byte, so
// an offset smaller than the length repeats a pattern: "xab" followed by a
// copy of offset 2 and length 4 is "xababab". Copies differ in how much
// room they have for the length and the offset.
//
// Copy with a 1-byte offset (tag 01): lengths 4..11 and offsets up to
// 2047. The offset's top three bits are the tag's top three bits, its low
// eight bits the next byte:
//
//	  7         5   4       2   1   0     7                     0
//	+-------------+-----------+-------+ +-------------------------+
//	| offset>>8   | len-4     | 0   1 | | offset & 0xff           |
//	+-------------+-----------+-------+ +-------------------------+
//
// Copy with a 2-byte offset (tag 10): lengths 1..64, offsets up to 65535,
// the offset little-endian in the next two bytes:
//
//	  7           2   1   0
//	+---------------+-------+ +-------------+-------------+
//	| len-1 (0..63) | 1   0 | | offset low  | offset high |
//	+---------------+-------+ +-------------+-------------+
//
// Copy with a 4-byte offset (tag 11): as tag 10, with a 32-bit offset:
//
//	+---------------+-------+ +------+------+------+------+
//	| len-1 (0..63) | 1   1 | | offset, 4 bytes, LE       |
//	+---------------+-------+ +------+------+------+------+
//
// A block is valid only when every element is complete, every copy has an
// offset of at least 1 and at most the length of the output so far, and
// the elements produce exactly the decoded length: no more (nothing may
// follow the last element) and no less. The format description is
// format_description.txt in github.com/google/snappy.
//
// # Encoder
//
// [Encode] cuts its input into 64 KiB pieces, so copies never reach back
// more than 65535 bytes and it emits no 4-byte-offset copies. In each
// piece it hashes the 4 bytes at each position into a table of earlier
// positions and emits a copy whenever those 4 bytes occurred before
// (greedy, with the longest extension of that one candidate), and a
// literal for what lies between copies. Where nothing matches it looks
// at fewer positions, one in every 2, 3, ... as the run of misses grows,
// which keeps incompressible input fast. These are the reference
// encoder's rules, with its hash and table sizes: the output is the same,
// byte for byte, as that of github.com/golang/snappy and of libsnappy
// 1.1.9 on every input tried (not a promise: a better encoder may come).
// It depends on the input alone, on every platform.
//
// # Decoding hostile input
//
// [Decode] never panics and checks everything the format requires. It is
// stricter than the format in one respect, which no encoder runs into: a
// header varint must not be longer than it needs to be (80 00 for 0 is
// rejected). Before it allocates, it checks the decoded length against
// what the rest of the block could possibly produce (the densest element,
// a 2-byte-offset copy, turns 3 bytes into 64), so a hostile block cannot
// make it allocate more than about 21 times the block's own size.
// [DecodeLimit] takes a caller's smaller bound.
package snappy
