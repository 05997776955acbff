// Package grpchealth asks a gRPC server for its health (the standard
// grpc.health.v1 service) over plain-text HTTP/2, as the tests of testsvc
// and of the gateway's grpc policy both do.
package grpchealth

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Check asks the server at addr (host:port) for the health of its whole
// service ("") and returns the status it answers; opts are added to the
// connection's (grpc.WithAuthority to send another :authority, say).
func Check(ctx context.Context, addr string, opts ...grpc.DialOption) (healthpb.HealthCheckResponse_ServingStatus, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		return 0, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return 0, fmt.Errorf("grpc.health.v1.Health/Check at %s: %w", addr, err)
	}
	return resp.GetStatus(), nil
}
