// containerd 1.6's own snapshotter test suite, run against
// `buse snapshotter serve` through containerd's proxy client: the path
// containerd itself takes to a `[proxy_plugins]` snapshotter.
//
// Built in GOPATH mode against Debian's golang-github-containerd-containerd-dev:
//
//	GOPATH=$PWD:/usr/share/gocode GO111MODULE=off go test -c -o suite.test busesuite
//	BUSE=/path/to/buse ./suite.test -test.root -test.v
//
// Each case gets its own server process (the suite's fixed keys would
// collide in one), started with the case's root and killed when it ends.
package busesuite

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"github.com/containerd/containerd/snapshots/testsuite"
	"google.golang.org/grpc"
)

func TestBuseSnapshotter(t *testing.T) {
	buse := os.Getenv("BUSE")
	if buse == "" {
		t.Fatal("BUSE must name the buse binary")
	}
	testsuite.SnapshotterSuite(t, "buse", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		if err := os.MkdirAll(root, 0755); err != nil {
			return nil, nil, err
		}
		socket := filepath.Join(root, "buse.sock")
		server := exec.Command(buse, "snapshotter", "serve", "--root", filepath.Join(root, "store"), "--socket", socket, "--log-level", "warning")
		server.Stdout = os.Stderr
		server.Stderr = os.Stderr
		if err := server.Start(); err != nil {
			return nil, nil, err
		}
		stop := func() error {
			server.Process.Kill()
			server.Wait()
			return nil
		}
		dialContext, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		connection, err := grpc.DialContext(dialContext, socket,
			grpc.WithInsecure(), grpc.WithBlock(),
			grpc.WithContextDialer(func(ctx context.Context, address string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", address)
			}))
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("dial %s: %w", socket, err)
		}
		snapshotter := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(connection), "buse")
		return snapshotter, func() error {
			connection.Close()
			return stop()
		}, nil
	})
}
