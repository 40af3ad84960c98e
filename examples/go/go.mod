module keeldesk

go 1.19

require keel v0.0.0

replace keel => ../../bindings/go
