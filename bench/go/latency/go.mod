module jiffy/bench/go/latency

go 1.19
