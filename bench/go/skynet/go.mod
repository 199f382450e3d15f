module jiffy/bench/go/skynet

go 1.19
