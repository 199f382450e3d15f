module jiffy/bench/go/http_hello

go 1.19
