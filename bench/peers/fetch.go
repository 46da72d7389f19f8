package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// fetch.go URL COUNT CONCURRENCY: COUNT GETs of URL, at most CONCURRENCY
// goroutines at once, keep-alive (one idle connection kept per goroutine),
// each body read into memory. Exits 1 if any fetch failed.
func main() {
	url := os.Args[1]
	count, _ := strconv.Atoi(os.Args[2])
	conc, _ := strconv.Atoi(os.Args[3])
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc}}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := 0; i < count; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := client.Get(url)
			if err == nil {
				_, err = io.ReadAll(r.Body)
				r.Body.Close()
			}
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d fetches failed\n", failed)
		os.Exit(1)
	}
}
