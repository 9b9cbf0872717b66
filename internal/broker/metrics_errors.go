package broker

import (
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// countErrors reports every non-zero error code in a response to the
// metrics. Produce and Fetch, the hot paths, are walked directly; the rest
// are rare enough for a reflective walk over their ErrorCode fields.
func (b *Broker) countErrors(key int16, resp kmsg.Response) {
	if b.metrics == nil || resp == nil {
		return
	}
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					b.metrics.RequestError(key, c)
				}
			}
		}
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			b.metrics.RequestError(key, r.ErrorCode)
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					b.metrics.RequestError(key, c)
				}
			}
		}
	default:
		walkErrorCodes(reflect.ValueOf(resp), func(c int16) { b.metrics.RequestError(key, c) })
	}
}

var int16Type = reflect.TypeOf(int16(0))

// walkErrorCodes calls fn for each non-zero int16 field named ErrorCode in
// v, through pointers, structs and slices.
func walkErrorCodes(v reflect.Value, fn func(int16)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkErrorCodes(v.Elem(), fn)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if f.Name == "ErrorCode" && f.Type == int16Type {
				if c := int16(fv.Int()); c != 0 {
					fn(c)
				}
				continue
			}
			walkErrorCodes(fv, fn)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes: records, metadata
		}
		for i := 0; i < v.Len(); i++ {
			walkErrorCodes(v.Index(i), fn)
		}
	}
}
