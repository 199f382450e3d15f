// bench/go/http_hello — the reference for examples/http_server: the same two
// routes on Go's net/http (standard library only).
//
// Usage: go_http_hello [-port 0] [-procs 0]
//
//   GET /hello        a tiny fixed body (the same bytes as jiffy's server)
//   GET /work?ms=N    computes for N ms without blocking (a loop of atomic
//                     adds, so the compiler cannot delete it; the clock is
//                     read every 1,000 adds), then answers how many adds it
//                     made. Go's runtime may preempt it asynchronously
//                     (sysmon + SIGURG, after 10 ms), as jiffy's `full` mode
//                     does after its quantum.
//
// -port 0 picks an ephemeral port. Once the socket accepts, it prints
// "listening on 127.0.0.1:P" (and flushes). -procs sets GOMAXPROCS (0 keeps
// Go's default or the GOMAXPROCS environment variable). SIGINT/SIGTERM stop
// it with exit status 0.
//
// Built by bench/http_bench.sh with `go build` (GOPROXY=off: no download).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

var helloBody = []byte("Hello, world!\n")

// spins is the busy loop's side effect: a shared counter nobody reads would
// still be kept, since atomic operations are never removed.
var spins uint64

func work(d time.Duration) uint64 {
	start := time.Now()
	var n uint64
	for time.Since(start) < d {
		for i := 0; i < 1000; i++ {
			atomic.AddUint64(&spins, 1)
		}
		n += 1000
	}
	return n
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: ephemeral)")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: default)")
	flag.Parse()
	if *port < 0 || *port > 65535 {
		fmt.Fprintf(os.Stderr, "go_http_hello: -port %d is not a port number\n", *port)
		os.Exit(2)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(helloBody)
	})
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 10000 {
			http.Error(w, "ms must be an integer from 0 to 10000\n", http.StatusBadRequest)
			return
		}
		n := work(time.Duration(ms) * time.Millisecond)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "worked %d ms (%d adds)\n", ms, n)
	})

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go_http_hello: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	os.Stdout.Sync()

	srv := &http.Server{Handler: mux}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "go_http_hello: %v\n", err)
		os.Exit(1)
	}
}
