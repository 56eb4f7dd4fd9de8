// Package gochan times Go's own channels on the workloads of
// tests/bench/bench_chan.c, for tests/bench/run_chan_bench.sh:
//
//	go test -bench . -count 5
//
// Each benchmark reports ns per message (per round trip for PingPong).
package gochan

import "testing"

func producerConsumer(b *testing.B, capacity, pairs int) {
	c := make(chan int64, capacity)
	per := b.N / pairs
	if per == 0 {
		per = 1
	}
	done := make(chan int64)
	b.ResetTimer()
	for p := 0; p < pairs; p++ {
		go func() {
			for i := 0; i < per; i++ {
				c <- int64(i)
			}
		}()
		go func() {
			var sum int64
			for i := 0; i < per; i++ {
				sum += <-c
			}
			done <- sum
		}()
	}
	for p := 0; p < pairs; p++ {
		<-done
	}
}

func BenchmarkBufferedSPSC(b *testing.B)   { producerConsumer(b, 128, 1) }
func BenchmarkUnbufferedSPSC(b *testing.B) { producerConsumer(b, 0, 1) }
func BenchmarkBuffered4P4C(b *testing.B)   { producerConsumer(b, 128, 4) }

func BenchmarkPingPong(b *testing.B) {
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ping <- int64(i)
		<-pong
	}
	close(ping)
}
