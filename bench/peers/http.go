package main

import (
	"net/http"
	"os"
	"strconv"
	"strings"
)

// http.go PORT BODY_BYTES: Go's net/http serving BODY_BYTES of 'x' on every path.
func main() {
	n, _ := strconv.Atoi(os.Args[2])
	body := []byte(strings.Repeat("x", n))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		panic(err)
	}
}
