// The "skynet" benchmark in Go, for bench/skynet.sh: a tree of goroutines,
// each spawning 10 children until `leaves` leaves each send back their own
// number over a channel, the sums coming back up the tree. Prints one line
// per run and the median, as bench/skynet does; GOMAXPROCS sets the threads.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

func skynet(out chan<- uint64, num, size uint64) {
	if size == 1 {
		out <- num
		return
	}
	part := size / 10
	results := make(chan uint64, 10)
	for i := uint64(0); i < 10; i++ {
		go skynet(results, num+i*part, part)
	}
	var sum uint64
	for i := 0; i < 10; i++ {
		sum += <-results
	}
	out <- sum
}

func main() {
	leaves := flag.Uint64("leaves", 1000000, "leaves of the tree, a power of 10")
	runs := flag.Int("runs", 5, "timed runs after one warm-up")
	flag.Parse()
	expected := *leaves * (*leaves - 1) / 2
	var ms []float64
	for r := 0; r <= *runs; r++ {
		start := time.Now()
		out := make(chan uint64, 1)
		go skynet(out, 0, *leaves)
		sum := <-out
		took := float64(time.Since(start).Microseconds()) / 1000
		if sum != expected {
			fmt.Fprintf(os.Stderr, "skynet: sum %d, expected %d\n", sum, expected)
			os.Exit(1)
		}
		if r == 0 {
			continue
		}
		ms = append(ms, took)
		fmt.Printf("run %d: %.1f ms\n", r, took)
	}
	sort.Float64s(ms)
	fmt.Printf("median: %.1f ms (Go %s, GOMAXPROCS=%d, %d leaves)\n", ms[len(ms)/2], runtime.Version(),
		runtime.GOMAXPROCS(0), *leaves)
}
