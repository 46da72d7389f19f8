package main

import (
	"fmt"
	"time"
)

func run(name string, ch chan int64, n int64) {
	done := make(chan int64)
	go func() {
		var s int64
		for i := int64(0); i < n; i++ {
			s += <-ch
		}
		done <- s
	}()
	t := time.Now()
	for i := int64(0); i < n; i++ {
		ch <- i
	}
	<-done
	d := time.Since(t)
	fmt.Printf("%s: %.1f M items/s\n", name, float64(n)/d.Seconds()/1e6)
}

func main() {
	const n = 10000000
	run("unbuffered", make(chan int64), n)
	run("buffered 1024", make(chan int64, 1024), n)
}
