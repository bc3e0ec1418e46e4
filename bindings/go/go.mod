module example.invalid/dispatch-rs/bindings/go

go 1.19
