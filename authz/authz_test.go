package authz_test

import (
	"os"
	"path/filepath"

	"actorlog/authz"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func policy(text string) string {
	p := filepath.Join(GinkgoT().TempDir(), "policy.csv")
	Expect(os.WriteFile(p, []byte(text), 0o644)).To(Succeed())
	return p
}

var _ = Describe("authorisation", func() {
	It("allows what the policy grants and denies everything else, naming identity and action", func() {
		a, err := authz.Load(policy("p, root, produce\np, root, consume\np, root, admin\np, reader, consume\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Grants()).To(Equal(4))
		for _, act := range authz.Actions {
			Expect(a.Authorize("root", act)).To(Succeed())
		}
		Expect(a.Authorize("reader", authz.ActionConsume)).To(Succeed())

		err = a.Authorize("reader", authz.ActionProduce)
		Expect(err).To(MatchError(authz.ErrDenied))
		var d *authz.DeniedError
		Expect(err).To(BeAssignableToTypeOf(d))
		Expect(err.Error()).To(ContainSubstring(`"reader" may not produce`))
		Expect(a.Authorize("nobody", authz.ActionConsume)).To(MatchError(authz.ErrDenied))
		Expect(a.Authorize("", authz.ActionConsume)).To(MatchError(authz.ErrDenied))
	})

	It("takes * for every identity and every action", func() {
		a, err := authz.Load(policy("p, *, consume\np, ops, *\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Authorize("anyone", authz.ActionConsume)).To(Succeed())
		Expect(a.Authorize("anyone", authz.ActionProduce)).To(MatchError(authz.ErrDenied))
		Expect(a.Authorize("ops", authz.ActionAdmin)).To(Succeed())
		Expect(a.Authorize("ops", authz.ActionProduce)).To(Succeed())
	})

	It("denies everything without a policy", func() {
		a := authz.DenyAll()
		for _, act := range authz.Actions {
			Expect(a.Authorize("root", act)).To(MatchError(authz.ErrDenied))
		}
	})

	It("refuses a policy with an unknown action, a stray space or comment, or a missing file, saying which", func() {
		_, err := authz.Load(policy("p, root, produce\np, root, write\n"))
		Expect(err).To(MatchError(authz.ErrPolicy))
		Expect(err.Error()).To(ContainSubstring(`unknown action "write"`))

		_, err = authz.Load(policy("p, root , produce\n"))
		Expect(err).To(MatchError(authz.ErrPolicy))
		Expect(err.Error()).To(ContainSubstring(`"root " has a space`))

		_, err = authz.Load(policy("p, root, produce # the admin\n"))
		Expect(err).To(MatchError(authz.ErrPolicy))
		Expect(err.Error()).To(ContainSubstring("comments go on lines of their own"))

		a, err := authz.Load(policy("# a comment line\np, root, produce\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Authorize("root", authz.ActionProduce)).To(Succeed())

		_, err = authz.Load(filepath.Join(GinkgoT().TempDir(), "absent.csv"))
		Expect(err).To(MatchError(authz.ErrPolicy))
		Expect(err.Error()).To(ContainSubstring("absent.csv"))
	})
})
