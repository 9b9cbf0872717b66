package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// APIVersion is one row of the API table as users see it: the Kafka API
// key, its name and the range of versions the broker serves.
type APIVersion struct {
	Key        int16
	Name       string
	MinVersion int16
	MaxVersion int16
}

// APIs lists the API table sorted by key; the caller owns the slice. It
// is what ApiVersions advertises, and docs/apis.md is generated from it.
func APIs() []APIVersion {
	rows := supportedAPIs()
	out := make([]APIVersion, len(rows))
	for i, a := range rows {
		out[i] = APIVersion{Key: a.key, Name: kmsg.NameForKey(a.key), MinVersion: a.min, MaxVersion: a.max}
	}
	return out
}
