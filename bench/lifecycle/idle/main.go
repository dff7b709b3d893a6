// Command idle sleeps until it is killed: the smallest Go process, whose
// memory bench/lifecycle measures as the floor of any design that runs a
// Go process per container.
package main

import "time"

func main() {
	time.Sleep(1 << 62)
}
