package dockerspecs

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestDockerSpecs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Docker Compose Suite")
}

var (
	actorlogBin   string
	actorlogImage string
	consulImage   string
	composeCmd    []string
)

var _ = BeforeSuite(func() {
	for name, dst := range map[string]*string{
		"ACTORLOG_BIN": &actorlogBin, "ACTORLOG_IMAGE": &actorlogImage, "CONSUL_IMAGE": &consulImage,
	} {
		*dst = os.Getenv(name)
		Expect(*dst).NotTo(BeEmpty(), "%s is not set: run the suite with make test-docker", name)
	}
	composeCmd = splitFields(os.Getenv("COMPOSE"))
	Expect(composeCmd).NotTo(BeEmpty(), "COMPOSE is not set: run the suite with make test-docker")
})
