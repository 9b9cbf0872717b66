package broker

// DescribeAcls, CreateAcls and DeleteAcls (v1-v3), as Kafka serves them
// when no authorizer is configured (authorizer.class.name unset, its
// default): every request is answered with SECURITY_DISABLED. Plexus has
// no authorizer, so this is its whole truth: no ACL exists, none can be
// made, and admin tools that list ACLs (UIs, kafka-acls.sh, kadm) get the
// answer they know how to show rather than an unsupported API.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/server"
)

// noAuthorizer is Kafka's message for SECURITY_DISABLED here.
var noAuthorizer = "No Authorizer is configured."

func handleDescribeACLs(b *Broker, r *server.Request) kmsg.Response {
	resp := r.Body.(*kmsg.DescribeACLsRequest).ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, &noAuthorizer
	return resp
}

func handleCreateACLs(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	for range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, &noAuthorizer
		resp.Results = append(resp.Results, res)
	}
	return resp
}

func handleDeleteACLs(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	for range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, &noAuthorizer
		resp.Results = append(resp.Results, res)
	}
	return resp
}
