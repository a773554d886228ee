package cluster

import (
	"encoding/binary"
	"errors"
)

// An entry's data, and a membership change's context, is an envelope
// (part of the on-disk format; never change; a new layout gets a new
// format byte):
//
//	format   1 byte, envelopeV1
//	origin   uvarint, the id of the member that proposed it (0: none)
//	request  uvarint, the proposer's request id (0: nobody waits)
//	command  the rest: the state machine's command, or for a membership
//	         change the new member's peer URL
const envelopeV1 = 1

var errBadEnvelope = errors.New("malformed entry envelope")

func encodeEnvelope(origin, request uint64, command []byte) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(command))
	b = append(b, envelopeV1)
	b = binary.AppendUvarint(b, origin)
	b = binary.AppendUvarint(b, request)
	return append(b, command...)
}

func decodeEnvelope(b []byte) (origin, request uint64, command []byte, err error) {
	if len(b) == 0 || b[0] != envelopeV1 {
		return 0, 0, nil, errBadEnvelope
	}
	b = b[1:]
	origin, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, nil, errBadEnvelope
	}
	b = b[n:]
	request, n = binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, nil, errBadEnvelope
	}
	return origin, request, b[n:], nil
}
