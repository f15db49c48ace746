package auth

// Remembered is how many verified tokens v holds, for tests.
func Remembered(v *Verifier) int {
	v.verified.mu.Lock()
	defer v.verified.mu.Unlock()
	return len(v.verified.entries)
}

// MaxRemembered is the bound on Remembered.
const MaxRemembered = maxVerified
