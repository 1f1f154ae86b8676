package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-iot/portico/internal/acmeissuer"
	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/awsapi"
	acmapi "github.com/portico-iot/portico/internal/awsapi/acm"
	iotapi "github.com/portico-iot/portico/internal/awsapi/iot"
	"github.com/portico-iot/portico/internal/awsapi/iotdata"
	route53api "github.com/portico-iot/portico/internal/awsapi/route53"
	"github.com/portico-iot/portico/internal/awsapi/sigv4"
	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/config"
	"github.com/portico-iot/portico/internal/customauth"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/deviceauth"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/function"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/gcpace"
	"github.com/portico-iot/portico/internal/health"
	"github.com/portico-iot/portico/internal/memtrim"
	"github.com/portico-iot/portico/internal/ocspstaple"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/pkiweb"
	"github.com/portico-iot/portico/internal/store"
	"github.com/portico-iot/portico/internal/zone"
)

const (
	serverCAName = "server"
	deviceCAName = "device"
)

func serveCommand() *cobra.Command {
	var cfg config.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run Portico: the AWS API, MQTT and HTTPS device endpoints, and DNS",
		Long: "Run Portico. Every flag can also be set as PORTICO_<FLAG> (for example PORTICO_DATA_DIR).\n" +
			"API credentials come from PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY, or are generated\n" +
			"on first start and kept in <data-dir>/credentials.json.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.ApplyEnv(cmd.Flags()); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cfg.Bind(cmd.Flags())
	return cmd
}

func openCA(dataDir, name string) (*pki.CA, error) {
	subject := pkix.Name{Organization: []string{"Portico"}, CommonName: "Portico " + name + " CA"}
	return pki.LoadOrCreate(dataDir, name, subject, nil)
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// node is a running Portico: every service and listener.
type node struct {
	cfg       config.Config
	logger    *slog.Logger
	store     *store.Store
	certs     *certificate.Service
	endpoints *endpoint.Service
	devices   *device.Service
	zones     *zone.Service
	health    *health.Service
	checker   *health.Checker
	// customAuth decides connections by custom authorizer.
	customAuth *customauth.Authenticator
	pki        *pkiweb.Handler
	serverCA   *pki.CA
	// revocation embeds the OCSP and CRL locations in what serverCA issues.
	revocation []pki.IssueOption
	stapler    *ocspstaple.Stapler
	// challenges are the ACME DNS-01 TXT records Portico's DNS serves in the
	// validation zone (nil without --acme-directory); dnsAddr is the DNS
	// server's UDP address as the ACME issuer reaches it.
	challenges *acmeissuer.Challenges
	dnsAddr    string
	broker     *broker.Broker
	gateway    *gateway.Gateway
	api        *awsapi.Server
	creds      config.Credentials

	// functions are the user functions authorizers call.
	functions   *function.Registry
	authorizers *authorizer.Service
}

func serve(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	logger, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	n, err := build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer n.store.Close()
	defer n.broker.Close()
	return n.run(ctx, stdout)
}

func build(ctx context.Context, cfg config.Config, logger *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, logger: logger}
	var err error
	if n.creds, err = config.LoadCredentials(cfg.DataDir); err != nil {
		return nil, err
	}
	if n.store, err = store.Open(ctx, cfg.DataDir); err != nil {
		return nil, err
	}
	deviceCA, err := openCA(cfg.DataDir, deviceCAName)
	if err != nil {
		return nil, err
	}
	serverCA, err := openCA(cfg.DataDir, serverCAName)
	if err != nil {
		return nil, err
	}
	if n.certs, err = certificate.NewService(ctx, n.store, cfg.Region, cfg.AccountID); err != nil {
		return nil, err
	}
	n.endpoints, err = endpoint.NewService(ctx, n.store, certificateChecker{n.certs},
		endpoint.Config{Region: cfg.Region, Account: cfg.AccountID, BaseDomain: cfg.BaseDomain})
	if err != nil {
		return nil, err
	}
	n.certs.InUse = inUseBy(n.endpoints)
	if n.devices, err = device.NewService(ctx, n.store, deviceCA, cfg.Region, cfg.AccountID); err != nil {
		return nil, err
	}
	n.devices.Logger = logger.With("component", "device")
	n.functions, err = function.New(ctx, n.store, function.Config{Region: cfg.Region, Account: cfg.AccountID, Logger: logger.With("component", "function")})
	if err != nil {
		return nil, err
	}
	if cfg.FunctionsFile != "" {
		fs, err := function.ReadFile(cfg.FunctionsFile)
		if err != nil {
			return nil, err
		}
		if _, err := n.functions.PutAll(ctx, fs); err != nil {
			return nil, fmt.Errorf("functions file %s: %w", cfg.FunctionsFile, err)
		}
		logger.Info("functions registered from file", "file", cfg.FunctionsFile, "count", len(fs))
	}
	if n.authorizers, err = authorizer.NewService(ctx, n.store, n.functions, authorizer.Config{Region: cfg.Region, Account: cfg.AccountID}); err != nil {
		return nil, err
	}
	if n.zones, err = zone.NewService(ctx, n.store, cfg.Nameservers); err != nil {
		return nil, err
	}
	if n.health, err = health.NewService(ctx, n.store); err != nil {
		return nil, err
	}
	n.zones.HealthCheckExists = n.health.Exists
	n.endpoints.References = endpoint.References{AuthorizerExists: n.authorizers.Exists,
		FunctionExists: func(ctx context.Context, arn string) error { _, err := n.functions.Resolve(ctx, arn); return err }}
	n.checker = &health.Checker{Logger: logger.With("component", "health")}
	// Sessions, subscriptions, retained and in-flight messages live in the
	// same database (docs/persistence.md).
	if n.broker, err = broker.New(broker.Options{Logger: logger, Store: n.store, SessionExpiry: cfg.MQTTSessionExpiry}); err != nil {
		return nil, err
	}
	// Just-in-time registration publishes $aws/events/certificates/registered/<ca>.
	n.devices.PublishEventsWith(func(topic string, payload []byte) error { return n.broker.Publish(topic, payload, 0, false) })

	n.api = awsapi.NewServer(cfg.Region, []sigv4.Credential{{AccessKeyID: n.creds.AccessKeyID, SecretAccessKey: n.creds.SecretAccessKey}}, logger)
	acmapi.Register(n.api, n.certs, logger)
	iotapi.Register(n.api, iotapi.Deps{Endpoints: n.endpoints, Devices: n.devices,
		Authorizers: n.authorizers, AuthorizerUsers: authorizerUsers(n.endpoints), Logger: logger})
	route53api.RegisterWithHealth(n.api, n.zones, n.health, n.checker, logger)
	iotdata.Register(n.api, n.broker, logger)

	// The device endpoints accept SigV4 only for iot-data publish.
	dataAPI := awsapi.NewServer(cfg.Region, n.api.Credentials, logger)
	iotdata.Register(dataAPI, n.broker, logger)

	// Portico's CAs answer OCSP and publish CRLs on the API address; the
	// certificates they issue say where.
	n.pki = pkiweb.New(pkiweb.Config{Authorities: map[string]pkiweb.Authority{serverCAName: serverCA, deviceCAName: deviceCA}, Logger: logger})
	var revocation []pki.IssueOption
	if base, ok := n.pkiBaseURL(); ok {
		revocation = append(revocation, pki.WithRevocationURLs(pkiweb.OCSPURL(base, serverCAName), pkiweb.CRLURL(base, serverCAName)))
	}
	n.stapler = ocspstaple.New(ocspstaple.Config{Logger: logger.With("component", "ocsp"), Lambda: customauth.OCSPLambda(n.functions)})
	n.serverCA, n.revocation = serverCA, revocation
	defaultCert, err := n.defaultEndpointCertificate(serverCA, revocation...)
	if err != nil {
		return nil, err
	}
	n.customAuth = customauth.New(n.endpoints, n.authorizers, cfg.Region, cfg.AccountID)
	n.gateway, err = gateway.New(ctx, gateway.Config{
		Source: gatewaySource{endpoints: n.endpoints, certs: n.certs, devices: n.devices, defaultCertificate: defaultCert,
			managed: newManagedCertificates(serverCA, revocation...), stapler: n.stapler},
		Broker:        n.broker,
		DeviceHandler: iotdata.NewDeviceWithRetained(n.broker, logger, deviceauth.AuthorizeDevicePublish, deviceauth.AuthorizeDeviceRetained), // as the certificate's policies allow
		SigV4Handler:  dataAPI,
		// MQTT over WebSocket is presigned with the API's credentials.
		Credentials: credentialLookup(n.api.Credentials),
		// Custom authentication (MQTT, WebSocket, HTTPS publish) runs the
		// user's authorizer functions.
		CustomAuth:          n.customAuth,
		CertificateCallback: customauth.CertificateCallback{Functions: n.functions},
		Region:              cfg.Region,
		Logger:              logger,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// defaultEndpointCertificate issues, from Portico's server CA, the
// certificate of the account's default endpoint hostnames.
func (n *node) defaultEndpointCertificate(ca *pki.CA, opts ...pki.IssueOption) (tls.Certificate, error) {
	var names []string
	for _, t := range []string{"iot:Data-ATS", "iot:Data", "iot:Jobs", "iot:CredentialProvider"} {
		h, err := n.endpoints.Hostname(t)
		if err != nil {
			return tls.Certificate{}, err
		}
		names = append(names, h)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := ca.IssueServer(&key.PublicKey, names, []net.IP{advertiseIP(n.cfg.AdvertiseAddr)}, 365*24*time.Hour, opts...)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue default endpoint certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	// The intermediate goes with the leaf; devices trust the root (`portico ca export`).
	return tls.Certificate{Certificate: append([][]byte{der}, ca.Chain()...), PrivateKey: key, Leaf: leaf}, nil
}

// credentialLookup finds a secret among the API's access keys.
func credentialLookup(creds []sigv4.Credential) sigv4.Lookup {
	return func(id string) (string, bool) {
		for _, c := range creds {
			if c.AccessKeyID == id {
				return c.SecretAccessKey, true
			}
		}
		return "", false
	}
}

func (n *node) run(ctx context.Context, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	apiLn, err := net.Listen("tcp", n.cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	mqttLn, err := net.Listen("tcp", n.cfg.MQTTAddr)
	if err != nil {
		return fmt.Errorf("mqtt listener: %w", err)
	}
	httpsLn, err := net.Listen("tcp", n.cfg.HTTPSAddr)
	if err != nil {
		return fmt.Errorf("https listener: %w", err)
	}
	tlsLn, err := net.Listen("tcp", n.cfg.TLSAddr)
	if err != nil {
		return fmt.Errorf("tls listener: %w", err)
	}
	dnsDone, err := n.startDNS(ctx)
	if err != nil {
		return err
	}

	n.api.HandleOperational("GET /_portico/health", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	}))
	// The OCSP and CRL paths sit in front of the API mux: base64 in an OCSP
	// GET may contain "//", which a ServeMux would redirect.
	apiServer := &http.Server{Handler: n.pki.Front(n.api), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(n.logger.Handler(), slog.LevelDebug)}

	gwChanges, stopGW := n.store.Subscribe()
	defer stopGW()
	go n.gateway.Run(ctx, mergeChanges(ctx, gwChanges, n.stapler.Changes()))
	go n.stapler.Run(ctx)
	// Operator commands (portico function put) write the same database.
	go n.store.WatchOtherWriters(ctx, time.Second)
	authChanges, stopAuth := n.store.Subscribe()
	defer stopAuth()
	go n.customAuth.Run(ctx, authChanges, n.logger)
	// A fleet reconnecting at once leaves the heap twice its size: give
	// it back once the fleet is connected and quiet (internal/memtrim).
	go memtrim.Run(ctx, memtrim.Policy{}, n.logger)
	// Heavy message traffic gets GC headroom, so that cycles come every few
	// seconds rather than several times a second (internal/gcpace).
	go gcpace.Run(ctx, gcpace.Policy{}, n.broker.Messages, n.logger)
	if err := n.startValidation(ctx, n.serverCA, n.revocation); err != nil {
		return err
	}
	// Expiry warnings for every certificate: the /metrics gauge and the
	// daily approaching-expiration events.
	expiryChanges, stopExpiry := n.store.Subscribe()
	defer stopExpiry()
	metrics, err := startCertificateWarnings(ctx, n.certs, expiryChanges, n.cfg.ExpiryWebhooks, n.logger)
	if err != nil {
		return err
	}
	n.api.HandleOperational("GET /metrics", metrics)

	errs := make(chan error, 4)
	go func() { errs <- serveHTTP(apiServer.Serve(apiLn)) }()
	go func() { errs <- serveHTTP(n.gateway.ServeHTTPS(httpsLn)) }()
	go func() { errs <- serveHTTP(n.gateway.ServeALPN(tlsLn)) }()
	go func() { errs <- n.gateway.ServeMQTT(mqttLn) }()

	n.printBanner(stdout, apiLn.Addr().String())
	n.logger.Info("portico serving", "api", apiLn.Addr().String(), "mqtt", mqttLn.Addr().String(),
		"https", httpsLn.Addr().String(), "tls", tlsLn.Addr().String(), "dns", n.cfg.DNSAddr, "data_dir", n.cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	case runErr = <-dnsDone:
		dnsDone = closedNil()
	}
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	apiServer.Shutdown(shutdown)
	n.gateway.Shutdown(shutdown)
	mqttLn.Close()
	httpsLn.Close()
	tlsLn.Close()
	cancel()
	if err := <-dnsDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// mergeChanges wakes one reader for a change on any input, coalescing.
func mergeChanges(ctx context.Context, inputs ...<-chan struct{}) <-chan struct{} {
	out := make(chan struct{}, 1)
	for _, in := range inputs {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-in:
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}()
	}
	return out
}

// pkiBaseURL is where devices and Portico itself reach the CAs' OCSP and CRL
// endpoints: the API port at the advertised address.
func (n *node) pkiBaseURL() (string, bool) {
	_, port, err := net.SplitHostPort(n.cfg.APIAddr)
	if err != nil || port == "0" {
		n.logger.Warn("the API port is not fixed; certificates from Portico's CAs carry no OCSP or CRL location")
		return "", false
	}
	return "http://" + net.JoinHostPort(n.cfg.AdvertiseAddr, port), true
}

// closedNil is a channel that yields nil, for a result already consumed.
func closedNil() <-chan error {
	c := make(chan error, 1)
	c <- nil
	return c
}

func serveHTTP(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (n *node) printBanner(w io.Writer, apiAddr string) {
	fmt.Fprintf(w, "Portico %s is running. Use it with the aws CLI:\n\n", version)
	fmt.Fprintf(w, "  export AWS_ENDPOINT_URL=http://%s\n", apiAddr)
	fmt.Fprintf(w, "  export AWS_DEFAULT_REGION=%s\n", n.cfg.Region)
	fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s\n", n.creds.AccessKeyID)
	switch {
	case n.creds.Generated:
		fmt.Fprintf(w, "  export AWS_SECRET_ACCESS_KEY=%s\n\n", n.creds.SecretAccessKey)
		fmt.Fprintf(w, "These credentials were generated now and saved in %s/%s (mode 0600).\n", n.cfg.DataDir, config.CredentialsFile)
	case n.creds.FromEnv:
		fmt.Fprintf(w, "  export AWS_SECRET_ACCESS_KEY=<the value of PORTICO_SECRET_ACCESS_KEY>\n")
	default:
		fmt.Fprintf(w, "  export AWS_SECRET_ACCESS_KEY=$(sed -n 's/.*\"secretAccessKey\": \"\\(.*\\)\".*/\\1/p' %s/%s)\n",
			n.cfg.DataDir, config.CredentialsFile)
	}
	ats, _ := n.endpoints.Hostname("iot:Data-ATS")
	fmt.Fprintf(w, "\nDevice data endpoint (iot:Data-ATS): %s -> %s\n", ats, n.cfg.AdvertiseAddr)
	fmt.Fprintf(w, "MQTT %s, HTTPS %s, ALPN port (AWS's 443) %s, DNS %s (udp+tcp)\n", n.cfg.MQTTAddr, n.cfg.HTTPSAddr, n.cfg.TLSAddr, n.cfg.DNSAddr)
}
