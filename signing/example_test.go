package signing_test

import (
	"fmt"

	"github.com/webhookd/webhookd/signing"
)

// Sign the Standard Webhooks specification's example message with its example secret.
func ExampleSign() {
	key, err := signing.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	header, err := signing.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`), key)
	if err != nil {
		panic(err)
	}
	fmt.Println(header)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// During rotation, sign with the new key and the old one: receivers holding either accept the message.
func ExampleSign_rotation() {
	newKey, _ := signing.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	oldKey, _ := signing.ParsePrivateKey("whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbc=")
	header, _ := signing.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`), newKey, oldKey)
	fmt.Println(header)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==
}

// An ed25519 key pair: the sender keeps the whsk_ key, receivers get the whpk_ key.
func ExampleParsePrivateKey() {
	key, _ := signing.ParsePrivateKey("whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbc=")
	fmt.Println(key.Algorithm(), key.Public())
	// Output: ed25519 whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=
}

func ExampleMessageID() {
	id := signing.NewMessageID()
	back, _ := signing.ParseMessageID(id.String())
	fmt.Println(back == id, len(id.String()), len(id.UUID()))
	at, _ := signing.ParseMessageID("msg_01kp8g6dg0fm88vgfc5hev51x8")
	fmt.Println(at.Time(), at.UUID())
	// Output:
	// true 30 36
	// 2026-04-15 12:00:00 +0000 UTC 019d9103-3600-7d10-8dc1-ec2c5db287a8
}
