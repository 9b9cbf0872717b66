package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// transactionVersion is the finalized transaction.version feature level
// ApiVersions advertises (KIP-890): at 2, clients that support it use
// transactions version 2 (produce v12+ adds partitions implicitly,
// TxnOffsetCommit v5+ adds the group's partition, EndTxn v5+ bumps the
// epoch). franz-go 1.22 opts in when this feature reaches 2 and its
// version caps allow Produce v12, EndTxn v5 and TxnOffsetCommit v5;
// librdkafka 2.11 and sarama do not use it and keep version 1 semantics,
// which the coordinator serves alongside.
const transactionVersion int16 = 2

// addFeatures fills ApiVersions v3+ with the supported and finalized
// features (KIP-584).
func addFeatures(resp *kmsg.ApiVersionsResponse) {
	if resp.Version < 3 {
		return
	}
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, 2
	resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", transactionVersion, transactionVersion
	resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	// The features never change on a running broker.
	resp.FinalizedFeaturesEpoch = 1
}
