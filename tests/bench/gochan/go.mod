module syncprof/bench/gochan

go 1.19
