package consultest

import (
	"fmt"
	"io"
	"net"
	"strconv"
)

// maxPortTries bounds the search for ports that are free for both TCP and
// UDP; the kernel hands out a TCP port whose UDP twin is busy only rarely.
const maxPortTries = 100

// reservePorts asks the kernel for n distinct ports on 127.0.0.1 that are
// free for both TCP and UDP (serf gossips over both on one port number). All
// of them are held until the last one is found, so the kernel cannot hand
// out the same port twice, and then released for the agent to bind.
func reservePorts(n int) ([]int, error) {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries == maxPortTries {
			return nil, fmt.Errorf("consultest: no port free for both TCP and UDP after %d tries", maxPortTries)
		}
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("consultest: reserve a port: %w", err)
		}
		port := tcp.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			_ = tcp.Close()
			continue
		}
		held = append(held, tcp, udp)
		ports = append(ports, port)
	}
	return ports, nil
}
