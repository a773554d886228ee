package transport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The body of a message batch is a sequence of frames, each the length of
// a protobuf raftpb.Message as a uvarint, then the message. Part of the
// wire format between members; never change without a new path.

// AppendFrame appends m's frame to dst.
func AppendFrame(dst []byte, m *pb.Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return dst, fmt.Errorf("encode raft message: %w", err)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...), nil
}

// Decoder reads frames. The zero value is not usable; call NewDecoder.
// Not safe for concurrent use.
type Decoder struct {
	r   *bufio.Reader
	max int64
	buf []byte
}

// NewDecoder returns a decoder of the frames in r that refuses any
// message longer than maxBytes with ErrTooLarge, before reading it.
func NewDecoder(r io.Reader, maxBytes int64) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 32<<10), max: maxBytes}
}

// Decode returns the next message, io.EOF at a clean end, ErrTooLarge for
// an oversize frame, and ErrMalformed for anything else that is wrong.
func (d *Decoder) Decode() (*pb.Message, error) {
	n, err := binary.ReadUvarint(d.r)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: frame length: %w", ErrMalformed, err)
	}
	if n > uint64(d.max) {
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrTooLarge, n, d.max)
	}
	if uint64(cap(d.buf)) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		if isBodyTooLarge(err) {
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("%w: frame of %d bytes: %w", ErrMalformed, n, err)
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

// Reader returns what follows the frames read so far (a snapshot's data).
func (d *Decoder) Reader() io.Reader { return d.r }
