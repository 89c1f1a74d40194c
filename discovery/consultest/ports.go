package consultest

import (
	"errors"
	"fmt"
	"syscall"
)

// maxPortTries bounds the search for ports that are free for both TCP and
// UDP; the kernel hands out a TCP port whose UDP twin is busy only rarely.
const maxPortTries = 100

// portHold keeps kernel-chosen ports reserved until the agent binds them.
//
// Ports from the kernel come from the ephemeral range, the same range the
// kernel draws source ports from for outgoing connections. A port that is
// merely released and left free for a while (New, then Start seconds later,
// while clients already dial the address) is soon taken as the source port
// of some connection, or of a client's connection to itself, and the agent
// then fails to bind it. So each port is held by a socket that is bound but
// not listening: the kernel hands it to nobody else, and a client dialling
// it is refused, exactly as if nothing were there.
type portHold struct {
	fds []int
}

// reservePorts asks the kernel for n distinct ports on 127.0.0.1 that are
// free for both TCP and UDP (serf gossips over both on one port number), and
// holds them.
func reservePorts(n int) ([]int, *portHold, error) {
	h := &portHold{}
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries == maxPortTries {
			h.release()
			return nil, nil, fmt.Errorf("consultest: no port free for both TCP and UDP after %d tries", maxPortTries)
		}
		tcp, port, err := bindLoopback(syscall.SOCK_STREAM, 0)
		if err != nil {
			h.release()
			return nil, nil, fmt.Errorf("consultest: reserve a port: %w", err)
		}
		udp, _, err := bindLoopback(syscall.SOCK_DGRAM, port)
		if err != nil {
			_ = syscall.Close(tcp)
			continue
		}
		h.fds = append(h.fds, tcp, udp)
		ports = append(ports, port)
	}
	return ports, h, nil
}

// release frees the ports for the agent to bind. It is idempotent.
func (h *portHold) release() {
	if h == nil {
		return
	}
	for _, fd := range h.fds {
		_ = syscall.Close(fd)
	}
	h.fds = nil
}

// bindLoopback binds a socket of the given type to 127.0.0.1:port (0: the
// kernel picks) without listening, and returns it with its port.
func bindLoopback(typ, port int) (int, int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		return -1, 0, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return -1, 0, err
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		_ = syscall.Close(fd)
		return -1, 0, errors.New("consultest: bound socket has no IPv4 address")
	}
	return fd, in4.Port, nil
}
