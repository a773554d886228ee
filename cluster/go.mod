module amaters-server/cluster

go 1.26.0

replace amaters-server => ../

require (
	amaters-server v0.0.0-00010101000000-000000000000
	github.com/anishathalye/porcupine v1.3.1
	go.etcd.io/raft/v3 v3.7.0
)

require (
	github.com/BurntSushi/toml v1.6.0
	google.golang.org/protobuf v1.36.11
)

require golang.org/x/time v0.16.0 // indirect
