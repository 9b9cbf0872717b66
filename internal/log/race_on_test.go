//go:build race

package log

// raceEnabled scales the heavier cleaner tests down under the race
// detector, which makes the codecs tens of times slower.
const raceEnabled = true
