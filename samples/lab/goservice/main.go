// goservice - the lab's Go checkpoint target for checkpoint-forensics.
//
// A static Go program whose goroutines sit in known places: a worker blocked on a channel receive,
// a sleeper in time.Sleep, a waiter on a sync.WaitGroup, a nested call chain blocked on a mutex, and a
// TCP accept loop. Each goroutine reports its own id and function (from runtime.Stack) before it
// blocks; when all have, the program prints one JSON line with them, then READY, and stays idle.
// Tests compare the goroutines a debugger finds in a core made from the checkpoint with that line.
//
// Build: CGO_ENABLED=0 go build -trimpath -o goservice main.go
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Facts a test can read back from memory.
var requestCounter uint64 = 0
var banner = "checkpoint-forensics goservice v1"

type report struct {
	ID       int64  `json:"id"`
	Function string `json:"function"`
	Role     string `json:"role"`
}

var (
	reportsMu sync.Mutex
	reports   []report
	ready     sync.WaitGroup
)

// whoami returns the calling goroutine's id and the function it runs, from its own stack trace:
// "goroutine 7 [running]:\nmain.whoami(...)\n\t...\nmain.worker(...)".
func whoami(role string) {
	buf := make([]byte, 4096)
	n := runtime.Stack(buf, false)
	lines := strings.Split(string(buf[:n]), "\n")
	id, _ := strconv.ParseInt(strings.Fields(lines[0])[1], 10, 64)
	fn := ""
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "\t") || l == "" || strings.HasPrefix(l, "main.whoami") {
			continue
		}
		fn = l[:strings.LastIndex(l, "(")]
		break
	}
	reportsMu.Lock()
	reports = append(reports, report{id, fn, role})
	reportsMu.Unlock()
	ready.Done()
}

//go:noinline
func worker(jobs chan int) {
	whoami("worker")
	for j := range jobs {
		requestCounter += uint64(j)
	}
}

//go:noinline
func sleeper() {
	whoami("sleeper")
	for {
		time.Sleep(time.Hour)
	}
}

//go:noinline
func waiter(wg *sync.WaitGroup) {
	whoami("waiter")
	wg.Wait()
}

//go:noinline
func nestedOuter(mu *sync.Mutex) { nestedMiddle(mu) }

//go:noinline
func nestedMiddle(mu *sync.Mutex) { nestedInner(mu) }

//go:noinline
func nestedInner(mu *sync.Mutex) {
	whoami("nested")
	mu.Lock() // held by main forever
}

//go:noinline
func acceptor(l net.Listener) {
	whoami("acceptor")
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func main() {
	jobs := make(chan int)
	var never sync.WaitGroup
	never.Add(1)
	var mu sync.Mutex
	mu.Lock()
	l, err := net.Listen("tcp", "127.0.0.1:8090")
	if err != nil {
		fmt.Fprintln(os.Stderr, "goservice:", err)
		os.Exit(1)
	}
	ready.Add(6)
	go worker(jobs)
	go sleeper()
	go waiter(&never)
	go nestedOuter(&mu)
	go acceptor(l)
	jobs <- 0 // the worker is running
	requestCounter = 4242
	whoami("main")
	ready.Wait()
	time.Sleep(200 * time.Millisecond) // every goroutine reaches the call it blocks in
	out, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "goroutines": reports,
		"request_counter": requestCounter, "banner": banner})
	fmt.Println(string(out))
	fmt.Println("READY")
	select {}
}
