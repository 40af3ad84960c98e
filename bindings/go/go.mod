module keel

go 1.19
