package compat

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Plexus has no authorizer, and answers the ACL APIs as Kafka does without
// one: SECURITY_DISABLED for every describe, creation and deletion. Each
// client's admin API must report that error as it reports it against Kafka,
// so that admin tools show "security is disabled" instead of failing on an
// unsupported API.
func TestACLsSecurityDisabled(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)

	t.Run("franz-go", func(t *testing.T) {
		adm := kadm.NewClient(franzClient(t, b.Addr))
		acl := kadm.NewACLs().Topics("orders").Allow("User:alice").AllowHosts("*").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
		created, err := adm.CreateACLs(ctx, acl)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if len(created) != 1 || !errors.Is(created[0].Err, kerr.SecurityDisabled) {
			t.Fatalf("create: %+v, want one result with SECURITY_DISABLED", created)
		}
		described, err := adm.DescribeACLs(ctx, acl)
		if err == nil {
			for _, d := range described {
				err = errors.Join(err, d.Err)
			}
		}
		if !errors.Is(err, kerr.SecurityDisabled) {
			t.Fatalf("describe: %+v, %v; want SECURITY_DISABLED", described, err)
		}
		deleted, err := adm.DeleteACLs(ctx, acl)
		if err == nil {
			for _, d := range deleted {
				err = errors.Join(err, d.Err)
			}
		}
		if !errors.Is(err, kerr.SecurityDisabled) {
			t.Fatalf("delete: %+v, %v; want SECURITY_DISABLED", deleted, err)
		}
	})

	t.Run("sarama", func(t *testing.T) {
		d := &saramaDriver{t: t, addrs: []string{b.Addr}}
		adm, err := sarama.NewClusterAdmin(d.addrs, d.config())
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		filter := sarama.AclFilter{
			ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
			Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny,
		}
		if _, err := adm.ListAcls(filter); !errors.Is(err, sarama.ErrSecurityDisabled) {
			t.Fatalf("list: %v, want %v", err, sarama.ErrSecurityDisabled)
		}
		err = adm.CreateACL(sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: "orders", ResourcePatternType: sarama.AclPatternLiteral},
			sarama.Acl{Principal: "User:alice", Host: "*", Operation: sarama.AclOperationRead, PermissionType: sarama.AclPermissionAllow})
		if !errors.Is(err, sarama.ErrSecurityDisabled) {
			t.Fatalf("create: %v, want %v", err, sarama.ErrSecurityDisabled)
		}
	})

	t.Run("confluent-kafka-go", func(t *testing.T) {
		adm, err := kafka.NewAdminClient(confluentConfig(b.Addr, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		filter := kafka.ACLBindingFilter{
			Type: kafka.ResourceAny, ResourcePatternType: kafka.ResourcePatternTypeAny,
			Operation: kafka.ACLOperationAny, PermissionType: kafka.ACLPermissionTypeAny,
		}
		// librdkafka drops DescribeAcls' top-level error code (it does the
		// same against Kafka): a describe reads as empty.
		res, err := adm.DescribeACLs(ctx, filter)
		if err != nil || res.Error.Code() != kafka.ErrNoError || len(res.ACLBindings) != 0 {
			t.Fatalf("describe: %+v, %v; want no bindings", res, err)
		}
		deleted, err := adm.DeleteACLs(ctx, kafka.ACLBindingFilters{filter})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		if len(deleted) != 1 || deleted[0].Error.Code() != kafka.ErrSecurityDisabled {
			t.Fatalf("delete: %+v, want one result with %v", deleted, kafka.ErrSecurityDisabled)
		}
		created, err := adm.CreateACLs(ctx, kafka.ACLBindings{{
			Type: kafka.ResourceTopic, Name: "orders", ResourcePatternType: kafka.ResourcePatternTypeLiteral,
			Principal: "User:alice", Host: "*", Operation: kafka.ACLOperationRead, PermissionType: kafka.ACLPermissionTypeAllow,
		}})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if len(created) != 1 || created[0].Error.Code() != kafka.ErrSecurityDisabled {
			t.Fatalf("create: %+v, want one result with %v", created, kafka.ErrSecurityDisabled)
		}
	})
}
