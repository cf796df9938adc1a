// Command cert-manager-controller runs cert-manager's own controllers, from its main Go module
// (github.com/cert-manager/cert-manager pkg/controller/...), for the integration tests.
//
// Upstream's binary lives in a separate module (cmd/controller, "controller-binary") that the Go
// module proxy does not serve, and its app package builds its configuration from internal
// packages another module cannot import. This main does what cmd/controller/app Run does for the
// parts the tests need: build a controller.ContextFactory, construct the enabled controllers
// from the pkg/controller registry, start the shared informer factories and run the controllers
// until SIGTERM/SIGINT. Left out: leader election (one process), the metrics and pprof servers,
// ACME/Vault/Venafi issuers and the ingress/gateway shims (not linked in, so they cannot be
// enabled by mistake), and the experimental CertificateSigningRequest controllers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// Each controller package registers itself with the pkg/controller registry in init().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuer types the issuers/clusterissuers controllers can set up (issuer registry).
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// Everything linked in: what CA and SelfSigned issuers and Certificates need. The approver is
// one of them: without an Approved condition no issuer signs a CertificateRequest.
var defaultControllers = []string{
	"issuers",
	"clusterissuers",
	"certificaterequests-approver",
	"certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned",
	"certificates-trigger",
	"certificates-issuing",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-readiness",
	"certificates-revision-manager",
}

// Upstream's default (internal/apis/config/controller/v1alpha1): copy every annotation from a
// Certificate to its CertificateRequests except those of kubectl, flux and argocd.
var defaultCopiedAnnotationPrefixes = []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"}

func main() {
	var (
		kubeconfig  = flag.String("kubeconfig", "", "kubeconfig file (empty: in-cluster config)")
		namespace   = flag.String("namespace", "", "watch only this namespace (disables clusterissuers); empty: all namespaces")
		clusterNS   = flag.String("cluster-resource-namespace", "cert-manager", "namespace of the Secrets ClusterIssuers use (the chart sets its release namespace)")
		controllers = flag.String("controllers", strings.Join(defaultControllers, ","), "comma-separated controllers to run; one of: "+strings.Join(defaultControllers, ", "))
		workers     = flag.Int("concurrent-workers", 5, "workers per controller (upstream's default)")
		qps         = flag.Float64("kube-api-qps", 20, "client QPS to the API server (upstream's default)")
		burst       = flag.Int("kube-api-burst", 50, "client burst to the API server (upstream's default)")
		ownerRef    = flag.Bool("enable-certificate-owner-ref", false, "make a Certificate the owner of its Secret (upstream's default: false)")
		readyFile   = flag.String("ready-file", "", "write this file once every informer cache has synced")
		showVersion = flag.Bool("version", false, "print the cert-manager version and exit")
	)
	klog.InitFlags(flag.CommandLine) // -v=N etc., as upstream's logging flags
	_ = flag.Set("v", "2")           // the chart's global.logLevel
	flag.Parse()
	if *showVersion {
		fmt.Println(util.AppVersion)
		return
	}

	enabled, err := parseControllers(*controllers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(2)
	}
	if *namespace != "" && slices.Contains(enabled, "clusterissuers") {
		enabled = slices.DeleteFunc(enabled, func(n string) bool { return n == "clusterissuers" })
	}

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	if err := run(ctx, options{
		ContextOptions: controller.ContextOptions{
			Kubeconfig:         *kubeconfig,
			KubernetesAPIQPS:   float32(*qps),
			KubernetesAPIBurst: *burst,
			Namespace:          *namespace,
			IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: *clusterNS},
			CertificateOptions: controller.CertificateOptions{
				EnableOwnerRef:           *ownerRef,
				CopiedAnnotationPrefixes: defaultCopiedAnnotationPrefixes,
			},
		},
		controllers: enabled,
		workers:     *workers,
		readyFile:   *readyFile,
	}); err != nil {
		logf.Log.Error(err, "cert-manager controller failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}

func parseControllers(list string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if _, ok := controller.Known()[n]; !ok {
			return nil, fmt.Errorf("--controllers: %q is not a controller of this binary; valid: %s", n, strings.Join(defaultControllers, ", "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--controllers: empty; valid: " + strings.Join(defaultControllers, ", "))
	}
	return out, nil
}

type options struct {
	controller.ContextOptions
	controllers []string
	workers     int
	readyFile   string
}

func run(rootCtx context.Context, o options) error {
	log := logf.FromContext(rootCtx)
	log.Info("starting cert-manager controller", "version", util.AppVersion, "controllers", o.controllers)

	g, gctx := errgroup.WithContext(rootCtx)
	factory, err := controller.NewContextFactory(gctx, o.ContextOptions)
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}

	// Constructing a controller registers the informers it needs with the shared factories, so
	// all of them are built before the factories start (as upstream's Run does).
	for _, name := range o.controllers {
		iface, err := controller.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("building controller %s: %w", name, err)
		}
		g.Go(func() error {
			log.Info("starting controller", "controller", name)
			return iface.Run(o.workers, gctx)
		})
	}

	base.SharedInformerFactory.Start(gctx.Done())
	base.KubeSharedInformerFactory.Start(gctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(gctx.Done())

	g.Go(func() error {
		synced := base.SharedInformerFactory.WaitForCacheSync(gctx.Done())
		kubeSynced := base.KubeSharedInformerFactory.WaitForCacheSync(gctx.Done())
		if gctx.Err() != nil {
			return nil // stopped before the caches synced
		}
		for t, ok := range synced {
			if !ok {
				return fmt.Errorf("informer cache of %v did not sync", t)
			}
		}
		for t, ok := range kubeSynced {
			if !ok {
				return fmt.Errorf("informer cache of %s did not sync", t)
			}
		}
		log.Info("informer caches synced")
		if o.readyFile != "" {
			return os.WriteFile(o.readyFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644)
		}
		return nil
	})

	err = g.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("control loops exited")
	return nil
}
