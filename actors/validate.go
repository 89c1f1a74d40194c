package actors

import (
	"fmt"

	"actorlog/messages"
)

// Limits are the request limits a session enforces. They are announced to
// the client in SessionOpened, so a client can split its batches up front;
// the HTTP API checks the same limits.
type Limits struct {
	MaxRecordBytes  uint32
	MaxBatchBytes   uint32
	MaxBatchRecords uint32
}

// DefaultTopic is the topic of a request that names none. Until topics
// exist it is the only one, with the single partition 0.
const DefaultTopic = "default"

// ValidateTopic checks a request's topic and partition: the wire carries
// them already, so that clients written today keep working when topics
// arrive, but only the default topic's partition 0 exists.
func ValidateTopic(topic string, partition uint32) *messages.InvalidRequest {
	if topic != "" && topic != DefaultTopic {
		return &messages.InvalidRequest{Field: "topic", Reason: fmt.Sprintf(
			"unknown topic %q: only %q exists", truncateField(topic), DefaultTopic)}
	}
	if partition != 0 {
		return &messages.InvalidRequest{Field: "partition", Reason: fmt.Sprintf(
			"unknown partition %d: topic %q has only partition 0", partition, DefaultTopic)}
	}
	return nil
}

// truncateField keeps a client's string short enough to quote in a reply.
func truncateField(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ValidateProduce checks a ProduceRequest against the limits and returns
// the InvalidRequest to answer with, or nil when the request is acceptable.
// The reason names the limit and the field names the offending part.
func ValidateProduce(m *messages.ProduceRequest, l Limits) *messages.InvalidRequest {
	if bad := ValidateTopic(m.GetTopic(), m.GetPartition()); bad != nil {
		return bad
	}
	recs := m.GetRecords()
	if len(recs) == 0 {
		return &messages.InvalidRequest{Field: "records", Reason: "empty batch: at least one record is required"}
	}
	if uint64(len(recs)) > uint64(l.MaxBatchRecords) {
		return &messages.InvalidRequest{Field: "records", Reason: fmt.Sprintf(
			"batch of %d records exceeds the limit of %d records per request (max_batch_records)", len(recs), l.MaxBatchRecords)}
	}
	if len(m.GetProducerId()) > maxProducerIDBytes {
		return &messages.InvalidRequest{Field: "producer_id", Reason: fmt.Sprintf(
			"producer id of %d bytes exceeds the limit of %d bytes", len(m.GetProducerId()), maxProducerIDBytes)}
	}
	var total uint64
	for i, r := range recs {
		if r == nil {
			return &messages.InvalidRequest{Field: fmt.Sprintf("records[%d]", i), Reason: "missing record"}
		}
		if r.GetInEntry() != 0 {
			return &messages.InvalidRequest{Field: fmt.Sprintf("records[%d].in_entry", i), Reason: "in_entry is internal to the nodes' storage: leave it unset"}
		}
		n := uint64(len(r.GetValue()))
		if n > uint64(l.MaxRecordBytes) {
			return &messages.InvalidRequest{Field: fmt.Sprintf("records[%d].value", i), Reason: fmt.Sprintf(
				"record of %d bytes exceeds the limit of %d bytes per record (max_record_bytes)", n, l.MaxRecordBytes)}
		}
		total += n
	}
	if total > uint64(l.MaxBatchBytes) {
		return &messages.InvalidRequest{Field: "records", Reason: fmt.Sprintf(
			"batch of %d bytes exceeds the limit of %d bytes per request (max_batch_bytes)", total, l.MaxBatchBytes)}
	}
	return nil
}

// ValidateSubscribe checks a Subscribe request.
func ValidateSubscribe(m *messages.Subscribe, maxCredit uint32) *messages.InvalidRequest {
	if bad := ValidateTopic(m.GetTopic(), m.GetPartition()); bad != nil {
		return bad
	}
	switch {
	case m.GetSubscriberAddress() == "":
		return &messages.InvalidRequest{Field: "subscriber_address", Reason: "the subscriber's address is required"}
	case m.GetSubscriberId() == "":
		return &messages.InvalidRequest{Field: "subscriber_id", Reason: "the subscriber's id is required"}
	case m.GetInitialCredit() > maxCredit:
		return &messages.InvalidRequest{Field: "initial_credit", Reason: fmt.Sprintf(
			"credit of %d records exceeds the limit of %d outstanding records", m.GetInitialCredit(), maxCredit)}
	}
	return nil
}
